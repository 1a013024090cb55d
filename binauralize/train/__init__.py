"""Training stack shared by the learned spatializers: feature/audio cache, datasets, objectives, loop."""

"""Learned spatializers (need PyTorch): registry, self-describing checkpoints, frozen visual trunks, the
Mono2Binaural family (Mono2Binaural, geometry-aware multi-task, Audio-Only) and their sliding-window inference."""

"""Pure signal-processing functions: geometry, HRTF, rendering, reverberation."""

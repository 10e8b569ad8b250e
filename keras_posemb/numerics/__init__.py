"""The package's arithmetic in NumPy, float64, no Keras: the sinusoidal
formula, RoPE's frequency variants and resampling matrices."""

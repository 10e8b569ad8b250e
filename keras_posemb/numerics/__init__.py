"""The package's arithmetic in NumPy, float64, no Keras: the sinusoidal
formula, the range of positions the exact tables encode, RoPE's frequency
variants, resampling matrices and the sampling of the next token."""

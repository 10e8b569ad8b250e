"""What a model's positions look like and what they do: plots and
TensorBoard views of each family, and the loss beyond the training length."""

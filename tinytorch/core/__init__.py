"""TinyTorch core: tensor, autograd, activations, layers, losses and the training stack."""

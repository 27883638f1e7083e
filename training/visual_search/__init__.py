"""visual-search: a small CNN that embeds Fashion-MNIST images for nearest-neighbour search."""

"""Training: tasks (one per model) and the generic Ray framework that trains and versions them."""

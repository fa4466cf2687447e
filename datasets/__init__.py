"""TFDS builders of i3d_tf; installed as the package `i3d_tf_datasets`."""

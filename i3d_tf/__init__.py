"""i3d_tf: a TF2/Keras reproduction of Quo Vadis (I3D), faithful to DeepMind's release."""

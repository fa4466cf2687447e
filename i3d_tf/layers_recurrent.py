"""Recurrent batch-normalised LSTM (Cooijmans et al., "Recurrent Batch Normalization", 2017).

  [i, f, o, g] = BN(W_h h_{t-1}; gamma_h) + BN(W_x x_t; gamma_x) + b
  c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
  h_t = sigmoid(o) * tanh(BN(c_t; gamma_c, beta_c))
As in the paper: gammas shared over time and initialised to 0.1 (`gamma_init`), no beta on the two
input normalisations (b plays that role), and separate population statistics per time step (steps
past `max_steps` reuse the last step's). Training unrolls over a static number of steps; at
inference a clip of any length (frame count None, as exported SavedModels have) runs in a
tf.scan with each step's population statistics gathered.
"""
import keras
import tensorflow as tf

from i3d_tf import layers

GAMMA_INIT = 0.1


BN_EPSILON = 1e-3


def _bn(name, momentum, dtype=None):
  return keras.layers.BatchNormalization(momentum=momentum, epsilon=BN_EPSILON, center=False,
                                         scale=False, name=name, dtype=dtype)


@layers.serializable
class BatchNormLSTM(keras.layers.Layer):
  """[B, T, D] -> hidden states [B, T, units]; T must be known when the graph is built."""

  def __init__(self, units, max_steps=50, forget_bias=1.0, bn_momentum=0.99,
               gamma_init=GAMMA_INIT, **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.gamma_init = gamma_init
    self.max_steps = max_steps
    self.forget_bias = forget_bias
    self.bn_momentum = bn_momentum
    # One batch norm per step and gate input, each also an attribute (bn_x_0, ...) for tracking.
    for kind in ("x", "h", "c"):
      setattr(self, f"bn_{kind}", [
          layers.track(self, f"bn_{kind}_{t}",
                       _bn(f"bn_{kind}_{t}", bn_momentum, self.dtype_policy))
          for t in range(max_steps)])

  def build(self, input_shape):
    u, d = self.units, int(input_shape[-1])

    def bias_init(shape, dtype=None):  # gate order i, f, o, g; forget gate starts open
      return tf.concat([tf.zeros([u]), tf.fill([u], float(self.forget_bias)), tf.zeros([2 * u])],
                       axis=0)

    gamma = keras.initializers.Constant(self.gamma_init)
    self.kernel_x = self.add_weight(shape=(d, 4 * u), initializer="glorot_uniform",
                                    name="kernel_x")
    self.kernel_h = self.add_weight(shape=(u, 4 * u), initializer="orthogonal", name="kernel_h")
    self.bias = self.add_weight(shape=(4 * u,), initializer=bias_init, name="bias")
    self.gamma_x = self.add_weight(shape=(4 * u,), initializer=gamma, name="gamma_x")
    self.gamma_h = self.add_weight(shape=(4 * u,), initializer=gamma, name="gamma_h")
    self.gamma_c = self.add_weight(shape=(u,), initializer=gamma, name="gamma_c")
    self.beta_c = self.add_weight(shape=(u,), initializer="zeros", name="beta_c")
    for bn_x, bn_h, bn_c in zip(self.bn_x, self.bn_h, self.bn_c):
      bn_x.build((None, 4 * u))
      bn_h.build((None, 4 * u))
      bn_c.build((None, u))
    self.built = True

  def call(self, inputs, training=False):
    steps = inputs.shape[1]
    if steps is None:
      if training:
        raise ValueError(f"{self.name} unrolls over time in training and needs a static number "
                         f"of steps; got input of shape {inputs.shape}")
      return self._scan_inference(inputs)
    batch = tf.shape(inputs)[0]
    h = tf.zeros([batch, self.units], inputs.dtype)
    c = tf.zeros([batch, self.units], inputs.dtype)
    input_terms = tf.einsum("btd,dg->btg", inputs, self.kernel_x)  # [B, T, 4U]
    outputs = []
    for t in range(steps):
      s = min(t, self.max_steps - 1)
      gates = (self.bn_x[s](input_terms[:, t], training=training) * self.gamma_x
               + self.bn_h[s](tf.matmul(h, self.kernel_h), training=training) * self.gamma_h
               + self.bias)
      i, f, o, g = tf.split(gates, 4, axis=-1)
      c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
      normalised_c = self.bn_c[s](c, training=training) * self.gamma_c + self.beta_c
      h = tf.sigmoid(o) * tf.tanh(normalised_c)
      outputs.append(h)
    return tf.stack(outputs, axis=1)  # [B, T, U]

  def _scan_inference(self, inputs):
    """Inference on [B, T, D] with T unknown until run time; same result as the unrolled loop."""
    last = self.max_steps - 1

    def stats(bns):  # [max_steps, dim] each
      return (tf.stack([tf.convert_to_tensor(bn.moving_mean) for bn in bns]),
              tf.stack([tf.convert_to_tensor(bn.moving_variance) for bn in bns]))

    (mean_x, var_x), (mean_h, var_h), (mean_c, var_c) = (
        stats(self.bn_x), stats(self.bn_h), stats(self.bn_c))

    def normalise(x, mean, var, s):
      return (x - mean[s]) * tf.math.rsqrt(var[s] + BN_EPSILON)

    def step(carry, elems):
      h, c = carry
      x_term, t = elems
      s = tf.minimum(t, last)
      gates = (normalise(x_term, mean_x, var_x, s) * self.gamma_x
               + normalise(tf.matmul(h, self.kernel_h), mean_h, var_h, s) * self.gamma_h
               + self.bias)
      i, f, o, g = tf.split(gates, 4, axis=-1)
      c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
      h = tf.sigmoid(o) * tf.tanh(normalise(c, mean_c, var_c, s) * self.gamma_c + self.beta_c)
      return h, c

    batch = tf.shape(inputs)[0]
    zeros = tf.zeros([batch, self.units], inputs.dtype)
    input_terms = tf.einsum("btd,dg->tbg", inputs, self.kernel_x)  # [T, B, 4U]
    steps = tf.range(tf.shape(input_terms)[0])
    hidden, _ = tf.scan(step, (input_terms, steps), initializer=(zeros, zeros))  # [T, B, U]
    return tf.transpose(hidden, [1, 0, 2])

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units, max_steps=self.max_steps, forget_bias=self.forget_bias,
                  bn_momentum=self.bn_momentum, gamma_init=self.gamma_init)
    return config

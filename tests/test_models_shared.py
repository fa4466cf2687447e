"""The shared model test (i3d_tf/models/testing.py) for every model in the registry: registering a
model with its small test settings is all it takes to be covered here."""
import pytest

from i3d_tf.models import registry
from i3d_tf.models import testing


@pytest.mark.parametrize("name", registry.names())
def test_registered_model(name, tmp_path):
  testing.run_model_test(name, str(tmp_path))


def test_every_entry_declares_small_settings_for_its_streams():
  fake = registry.ModelSpec("fake", "i3d_tf.models.builders:c3d",
                            registry.get("c3d").input_spec, "c3d under another name")
  with pytest.raises(ValueError, match="'fake': its registry entry needs test_settings"):
    registry.register(fake)
  wrong = registry.ModelSpec("fake", "i3d_tf.models.builders:c3d", fake.input_spec, "",
                             test_settings=registry.SmallTestSettings({"flow": 4}))
  with pytest.raises(ValueError, match=r"has streams \['flow'\]; expected \['rgb'\]"):
    registry.register(wrong)
  assert "fake" not in registry.names()

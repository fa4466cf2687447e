"""Made tests/data/run_before_issue18/ with main at 62c4557 (before issue 18's typed config).

A 2-step i3d_flow run at width 1/16 on toy shards: its run_config.json has the flat "config"
layout of that day, so tests prove that runs made then still load, resume and evaluate. Kept for
the record; it needs the old API (`experiment.ExperimentConfig` with flat fields) to run.
  PYTHONPATH=$PWD python3 tests/data/make_run_before_issue18.py /tmp/run /tmp/shards
then copy checkpoint, ckpt-2.*, metrics.json and run_config.json (the state file's path relative).
"""
import sys

from i3d_tf.training import experiment
from i3d_tf.training import testing

model_dir, shard_dir = sys.argv[1], sys.argv[2]
data = testing.toy_data_source(shard_dir)
config = testing.toy_config(model_dir, width_multiplier=0.0625, train_steps=2, checkpoint_every=2,
                            eval_max_videos=2)
status, final, trainer = experiment.run(config, data)
print(status, final, int(trainer.step.numpy()))

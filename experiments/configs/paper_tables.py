"""The paper's own figures (Carreira & Zisserman, CVPR 2017), each with where it was found.

A figure is sourced or absent: `figure(table, cell)` returns None for a cell whose paper figure we
could not find in a public source we could read (the report then prints '—' and 'unsourced').
Accuracies are percentages, top-1 unless the key says top5.

Sources:
- RELEASE_README: deepmind/kinetics-i3d README.md, section 'Provided checkpoints': "On the Kinetics
  test set, we obtain the following top-1 / top-5 accuracy", columns 'ImageNet + Kinetics' and
  'Kinetics' for RGB-I3D, Flow-I3D and Two-Stream I3D. These are the released models, trained as
  in the paper (Table 3's I3D rows).
- ABSTRACT: the paper's abstract (arXiv 1705.07750), "reaching 80.9% on HMDB-51 and 98.0% on
  UCF-101", quoted verbatim in open-mmlab/mmaction2 configs/recognition/i3d/README.md. These are
  the paper's best results: Two-Stream I3D pre-trained on ImageNet + Kinetics (Table 5). The
  CVPR camera-ready table may print a different HMDB-51 decimal; we keep the abstract's figure.
"""
import dataclasses
from typing import Optional

RELEASE_README = ("deepmind/kinetics-i3d README.md, 'Provided checkpoints' table (Kinetics test "
                  "set, top-1 / top-5)")
ABSTRACT = ("paper abstract, arXiv 1705.07750 ('reaching 80.9% on HMDB-51 and 98.0% on UCF-101'), "
            "quoted in open-mmlab/mmaction2 configs/recognition/i3d/README.md")


@dataclasses.dataclass(frozen=True)
class PaperFigure:
  top1: float
  top5: Optional[float]
  source: str
  note: str = ""


_TABLE2_NOTE = ("Table 2's Kinetics column for I3D is the ImageNet-initialised I3D on the Kinetics "
                "test set: the release README's 'ImageNet + Kinetics' column")

# {table: {cell name: PaperFigure}}; cell names are those of experiments/configs/recipes.py.
FIGURES = {
    "2": {
        "t2_kinetics400_i3d_rgb": PaperFigure(71.1, 89.3, RELEASE_README, _TABLE2_NOTE),
        "t2_kinetics400_i3d_flow": PaperFigure(63.4, 84.9, RELEASE_README, _TABLE2_NOTE),
        "t2_kinetics400_i3d_two_stream": PaperFigure(74.2, 91.3, RELEASE_README, _TABLE2_NOTE),
    },
    "3": {
        "t3_i3d_rgb_scratch": PaperFigure(68.4, 88.0, RELEASE_README),
        "t3_i3d_flow_scratch": PaperFigure(61.5, 83.4, RELEASE_README),
        "t3_i3d_two_stream_scratch": PaperFigure(71.6, 90.0, RELEASE_README),
        "t3_i3d_rgb_imagenet": PaperFigure(71.1, 89.3, RELEASE_README),
        "t3_i3d_flow_imagenet": PaperFigure(63.4, 84.9, RELEASE_README),
        "t3_i3d_two_stream_imagenet": PaperFigure(74.2, 91.3, RELEASE_README),
    },
    "4": {},
    "5": {
        "t5_ucf101_i3d_two_stream_imagenet": PaperFigure(98.0, None, ABSTRACT),
        "t5_hmdb51_i3d_two_stream_imagenet": PaperFigure(80.9, None, ABSTRACT),
    },
    "synthetic": {},
}


def figure(table, cell):
  """The paper's figure of a cell, or None when unsourced."""
  return FIGURES.get(str(table), {}).get(cell)

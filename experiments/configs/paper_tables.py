"""The paper's own figures (Carreira & Zisserman, CVPR 2017), each with where it was found.

A figure is sourced or absent: `figure(table, cell)` returns None for a cell without a paper figure
(the report then prints '—' and lists it as 'not in the paper' with the reason NOT_IN_THE_PAPER
gives). Accuracies are percentages, top-1 unless the key says top5. No figure here was filled
from memory: each was read in the source named in its `source`, and where two sources were read
for one figure both are in its `note`.

Sources:
- RELEASE_README: deepmind/kinetics-i3d README.md, section 'Provided checkpoints': "On the Kinetics
  test set, we obtain the following top-1 / top-5 accuracy", columns 'ImageNet + Kinetics' and
  'Kinetics' for RGB-I3D, Flow-I3D and Two-Stream I3D. These are the released models, trained as
  in the paper (Table 3's I3D rows; the paper's Table 3 prints the same twelve figures).
- PAPER_TEXT: Tables 2, 3, 4 and 5 of arXiv 1705.07750, laid out as Markdown tables (captions
  verbatim, e.g. "Table 4. Performance on the UCF-101 and HMDB-51 test sets (split 1 of both) for
  architectures starting with / without ImageNet pretrained weights. Original: ...; Fixed: ...;
  Full-FT: ...") in a bilingual English/Chinese copy of the paper titled "Quo Vadis, Action
  Recognition? A New Model and the Kinetics Dataset 你往何处去，行为识别？新模型和Kinetics数据集",
  a GitHub file we could read with the search index's find_string/read_file (file id 38151581259)
  but whose repository and path the index does not name. Its abstract reads "reaching 80.9% on
  HMDB-51 and 98.0% on UCF-101": the later arXiv revision (2018). Other revisions differ:
  arXiv v1's abstract, quoted in open-mmlab/mmpose docs/en/papers/backbones/i3d.md, reads "80.2%
  on HMDB-51 and 97.9% on UCF-101"; the CVPR camera-ready's (https://www.arxiv-vanity.com/papers/
  1705.07750/, https://vdocuments.mx/quo-vadis-action-recognition-a-new-model-and-quo-vadis-action-
  recognition-a.html) "80.7% on HMDB-51 and 98.0% on UCF-101". We follow the 2018 revision, the
  one whose Table 3 matches the release README.
- COURSE_TABLE2: a second, independent transcription of Table 2: the Spanish course notes
  "Teoría - CNN para reconocimiento en video" (Diplomado IA UC, Clase 38), section "11. Results:
  leer la tabla con cuidado" ("esta es la Tabla 2 del paper"), GitHub file id 59456027004 in the
  same index. It agrees with PAPER_TEXT's Table 2 on all 27 printed figures but one
  (ConvNet+LSTM, Kinetics: 63.3 here, 63.6 in PAPER_TEXT's Table 2; see that cell's note).
- R2PLUS1D_TABLE: Tran et al. (CVPR 2018, 'A Closer Look at Spatiotemporal Convolutions') compare
  against I3D on UCF-101 / HMDB-51 (3 splits); two Spanish write-ups of that paper reproduce its
  table, "I3D-RGB | ImageNet+Kinetics | 95.6 | 74.8", "I3D-Flow | ImageNet+Kinetics | 96.7 | 77.1",
  "I3D-Two-Stream | ImageNet+Kinetics | 98.0 | 80.7" (GitHub file ids 59180237055, 59226859759),
  the same figures as PAPER_TEXT's Table 5 ImageNet + Kinetics rows.

How the paper's tables map onto the cells of recipes.py:
- Table 2 (ImageNet-initialised but 3D-ConvNet, trained and tested on each dataset): every cell.
  The paper also prints 3D-Fused's single streams (UCF-101 83.2 / 85.8, HMDB-51 49.2 / 55.5),
  which have no cell (the registry's fused_3d is two-stream only).
- Table 3 (Kinetics, top-1 with top-5 for I3D only): every cell. The paper's 3D-ConvNet row
  (56.1, from scratch only) and Two-Stream's single streams (RGB 57.9 / 62.2, Flow 49.6 / 52.4,
  scratch / ImageNet) have no cell.
- Table 4 prints each cell as 'with ImageNet / without ImageNet' (e.g. ConvNet+LSTM, UCF-101,
  Original "81.0/54.2"): the first figure is our `_imagenet_` cell, the second our `_scratch_`
  one. Its rows are the five architectures only: no RGB-I3D or Flow-I3D row. The per-stream I3D
  'Original' cells with ImageNet are Table 2's figures of the same runs (Table 4's Original column
  is Table 2's, as its Two-Stream I3D row 93.4 / 66.4 shows); the other per-stream I3D cells are
  NOT_IN_THE_PAPER. The '_scratch_original' figures (without ImageNet) are networks trained from
  scratch on UCF-101 / HMDB-51 alone, as recipes.py's '_scratch_original' runs are (the
  '_imagenet_original' ones are Table 2's ImageNet-initialised runs).
- Table 5 (mean over 3 splits): every cell. The ImageNet + Kinetics Two-Stream I3D HMDB-51 figure
  is 80.7 in the table; the abstract's 80.9 is the table's Kinetics-only Two-Stream I3D row.
Still unsourced: none; the cells without a paper figure are listed in NOT_IN_THE_PAPER.
"""
import dataclasses
from typing import Optional

RELEASE_README = ("deepmind/kinetics-i3d README.md, 'Provided checkpoints' table (Kinetics test "
                  "set, top-1 / top-5)")
ABSTRACT = ("paper abstract, arXiv 1705.07750 ('reaching 80.9% on HMDB-51 and 98.0% on UCF-101'), "
            "quoted in open-mmlab/mmaction2 configs/recognition/i3d/README.md")
_PAPER_COPY = ("arXiv 1705.07750 (2018 revision) Table {}, as transcribed in a bilingual "
               "English/Chinese copy of the paper (GitHub file id 38151581259 in the search index; "
               "see this module's docstring)")
PAPER_TABLE2 = _PAPER_COPY.format(2)
PAPER_TABLE3 = _PAPER_COPY.format(3)
PAPER_TABLE4 = _PAPER_COPY.format(4)
PAPER_TABLE5 = _PAPER_COPY.format(5)
COURSE_TABLE2 = ("Spanish course notes 'Teoría - CNN para reconocimiento en video' (Diplomado IA UC, "
                 "Clase 38), section 11, 'esta es la Tabla 2 del paper' (GitHub file id "
                 "59456027004)")
R2PLUS1D_TABLE = ("Tran et al. CVPR 2018 (R(2+1)D) comparison table as reproduced in two Spanish "
                  "write-ups (GitHub file ids 59180237055, 59226859759)")


@dataclasses.dataclass(frozen=True)
class PaperFigure:
  top1: float
  top5: Optional[float]
  source: str
  note: str = ""


def _t2(top1, note=""):
  agree = f"the same figure in {COURSE_TABLE2}"
  return PaperFigure(top1, None, PAPER_TABLE2, f"{agree}; {note}" if note else agree)


_TABLE2_NOTE = ("Table 2's Kinetics column for I3D is the ImageNet-initialised I3D on the Kinetics "
                "test set: the release README's 'ImageNet + Kinetics' column; the paper's Table 2 "
                f"prints the same top-1 ({PAPER_TABLE2}; {COURSE_TABLE2})")
_T3_RELEASE_NOTE = f"the paper's Table 3 prints the same top-1 (top-5) ({PAPER_TABLE3})"
_T3_NO_TOP5 = "the paper gives top-5 for the I3D rows only"
_SCRATCH_ORIGINAL = ("the paper's 'without ImageNet' Original: trained from scratch on this dataset "
                     "alone, as recipes.py's run for this cell is")
_T4_FROM_T2 = ("Table 4 has no per-stream I3D rows; this is Table 2's figure for the same run "
               "(ImageNet-initialised I3D trained on split 1 alone; Table 4's Original column "
               "repeats Table 2's)")
_T5_AGREE = f"the same figure in {R2PLUS1D_TABLE}"


def _t4(top1, note=""):
  return PaperFigure(top1, None, PAPER_TABLE4, note)


def _t4_row(dataset, arch, imagenet, scratch):
  """One Table 4 row of a dataset: (original, fixed, full) pairs 'with ImageNet / without'."""
  out = {}
  for mode, with_imagenet, without in zip(("original", "fixed", "full"), imagenet, scratch):
    if with_imagenet is not None:
      out[f"t4_{dataset}_{arch}_imagenet_{mode}"] = _t4(with_imagenet)
    # 3D-ConvNet is trained from scratch in the paper and in recipes.py alike.
    out[f"t4_{dataset}_{arch}_scratch_{mode}"] = _t4(
        without, _SCRATCH_ORIGINAL if mode == "original" and arch != "c3d" else "")
  return out


_TABLE4 = {}
# Table 4 as printed, 'with ImageNet / without ImageNet' for Original, Fixed, Full-FT.
for _dataset, _rows in (
    ("ucf101", {"lstm": ((81.0, 88.1, 91.0), (54.2, 82.6, 86.8)),
                "c3d": ((None, None, None), (51.6, 76.0, 79.9)),
                "two_stream": ((91.2, 93.9, 94.2), (83.6, 93.3, 93.8)),
                "fused_3d": ((89.3, 94.3, 94.2), (69.5, 89.8, 91.5)),
                "i3d_two_stream": ((93.4, 97.7, 98.0), (88.8, 97.4, 97.6))}),
    ("hmdb51", {"lstm": ((36.0, 50.8, 53.4), (18.3, 47.1, 49.7)),
                "c3d": ((None, None, None), (24.3, 47.0, 49.4)),
                "two_stream": ((58.3, 66.6, 66.6), (47.1, 65.9, 64.3)),
                "fused_3d": ((56.8, 69.9, 71.0), (37.3, 64.6, 66.5)),
                "i3d_two_stream": ((66.4, 79.7, 81.2), (62.2, 78.6, 81.3))})):
  for _arch, (_imagenet, _scratch) in _rows.items():
    _TABLE4.update(_t4_row(_dataset, _arch, _imagenet, _scratch))
_TABLE4.update({
    "t4_ucf101_i3d_rgb_imagenet_original": PaperFigure(84.5, None, PAPER_TABLE2, _T4_FROM_T2),
    "t4_ucf101_i3d_flow_imagenet_original": PaperFigure(90.6, None, PAPER_TABLE2, _T4_FROM_T2),
    "t4_hmdb51_i3d_rgb_imagenet_original": PaperFigure(49.8, None, PAPER_TABLE2, _T4_FROM_T2),
    "t4_hmdb51_i3d_flow_imagenet_original": PaperFigure(61.9, None, PAPER_TABLE2, _T4_FROM_T2),
})
_COURSE_I3D_PAGE = ("also in the Spanish course's page on the paper, 'I3D: Quo Vadis, Action "
                    "Recognition? (2017)': 'Two-Stream I3D llega a 98.0% en UCF-101 y 81.2% en "
                    "HMDB-51 (split 1)' (GitHub file id 59319000592)")
for _cell in ("t4_ucf101_i3d_two_stream_imagenet_full", "t4_hmdb51_i3d_two_stream_imagenet_full"):
  _TABLE4[_cell] = _t4(_TABLE4[_cell].top1, _COURSE_I3D_PAGE)

# {table: {cell name: PaperFigure}}; cell names are those of experiments/configs/recipes.py.
FIGURES = {
    "2": {
        "t2_ucf101_lstm": _t2(81.0),
        "t2_ucf101_c3d": _t2(51.6, "3D-ConvNet is trained from scratch"),
        "t2_ucf101_two_stream_rgb": _t2(83.6),
        "t2_ucf101_two_stream_flow": _t2(85.6),
        "t2_ucf101_two_stream": _t2(91.2),
        "t2_ucf101_fused_3d": _t2(89.3),
        "t2_ucf101_i3d_rgb": _t2(84.5),
        "t2_ucf101_i3d_flow": _t2(90.6),
        "t2_ucf101_i3d_two_stream": _t2(93.4),
        "t2_hmdb51_lstm": _t2(36.0),
        "t2_hmdb51_c3d": _t2(24.3, "3D-ConvNet is trained from scratch"),
        "t2_hmdb51_two_stream_rgb": _t2(43.2),
        "t2_hmdb51_two_stream_flow": _t2(56.3),
        "t2_hmdb51_two_stream": _t2(58.3),
        "t2_hmdb51_fused_3d": _t2(56.8),
        "t2_hmdb51_i3d_rgb": _t2(49.8),
        "t2_hmdb51_i3d_flow": _t2(61.9),
        "t2_hmdb51_i3d_two_stream": _t2(66.4),
        "t2_kinetics400_lstm": PaperFigure(
            63.3, None, PAPER_TABLE2,
            f"sources disagree: 63.6 in {PAPER_TABLE2}, 63.3 in {COURSE_TABLE2} and in the "
            f"ImageNet-then-Kinetics ConvNet+LSTM cell of {PAPER_TABLE3}, the same run (every "
            "Table 2 model but 3D-ConvNet is ImageNet-initialised); we keep 63.3"),
        "t2_kinetics400_c3d": _t2(56.1, "3D-ConvNet is trained from scratch; Table 3 prints the "
                                        "same 56.1 in its Kinetics-only column"),
        "t2_kinetics400_two_stream_rgb": _t2(62.2),
        "t2_kinetics400_two_stream_flow": _t2(52.4),
        "t2_kinetics400_two_stream": _t2(65.6),
        "t2_kinetics400_fused_3d": _t2(67.2),
        "t2_kinetics400_i3d_rgb": PaperFigure(71.1, 89.3, RELEASE_README, _TABLE2_NOTE),
        "t2_kinetics400_i3d_flow": PaperFigure(63.4, 84.9, RELEASE_README, _TABLE2_NOTE),
        "t2_kinetics400_i3d_two_stream": PaperFigure(74.2, 91.3, RELEASE_README, _TABLE2_NOTE),
    },
    "3": {
        "t3_lstm_scratch": PaperFigure(53.9, None, PAPER_TABLE3, _T3_NO_TOP5),
        "t3_lstm_imagenet": PaperFigure(63.3, None, PAPER_TABLE3, _T3_NO_TOP5),
        "t3_two_stream_scratch": PaperFigure(62.8, None, PAPER_TABLE3, _T3_NO_TOP5),
        "t3_two_stream_imagenet": PaperFigure(65.6, None, PAPER_TABLE3, _T3_NO_TOP5),
        "t3_fused_3d_scratch": PaperFigure(62.7, None, PAPER_TABLE3, _T3_NO_TOP5),
        "t3_fused_3d_imagenet": PaperFigure(67.2, None, PAPER_TABLE3, _T3_NO_TOP5),
        "t3_i3d_rgb_scratch": PaperFigure(68.4, 88.0, RELEASE_README, _T3_RELEASE_NOTE),
        "t3_i3d_flow_scratch": PaperFigure(61.5, 83.4, RELEASE_README, _T3_RELEASE_NOTE),
        "t3_i3d_two_stream_scratch": PaperFigure(71.6, 90.0, RELEASE_README, _T3_RELEASE_NOTE),
        "t3_i3d_rgb_imagenet": PaperFigure(71.1, 89.3, RELEASE_README, _T3_RELEASE_NOTE),
        "t3_i3d_flow_imagenet": PaperFigure(63.4, 84.9, RELEASE_README, _T3_RELEASE_NOTE),
        "t3_i3d_two_stream_imagenet": PaperFigure(74.2, 91.3, RELEASE_README, _T3_RELEASE_NOTE),
    },
    "4": _TABLE4,
    "5": {
        "t5_ucf101_i3d_rgb_imagenet": PaperFigure(95.6, None, PAPER_TABLE5, _T5_AGREE),
        "t5_hmdb51_i3d_rgb_imagenet": PaperFigure(74.8, None, PAPER_TABLE5, _T5_AGREE),
        "t5_ucf101_i3d_flow_imagenet": PaperFigure(96.7, None, PAPER_TABLE5, _T5_AGREE),
        "t5_hmdb51_i3d_flow_imagenet": PaperFigure(77.1, None, PAPER_TABLE5, _T5_AGREE),
        "t5_ucf101_i3d_two_stream_imagenet": PaperFigure(
            98.0, None, PAPER_TABLE5, f"{_T5_AGREE}; also the abstract's 98.0 ({ABSTRACT})"),
        "t5_hmdb51_i3d_two_stream_imagenet": PaperFigure(
            80.7, None, PAPER_TABLE5,
            f"{_T5_AGREE}. The abstract's 80.9 ({ABSTRACT}) is Table 5's Kinetics-only Two-Stream "
            "I3D figure; the CVPR abstract reads 80.7. We keep the table's 80.7"),
        "t5_ucf101_i3d_rgb_scratch": PaperFigure(95.1, None, PAPER_TABLE5),
        "t5_hmdb51_i3d_rgb_scratch": PaperFigure(74.3, None, PAPER_TABLE5),
        "t5_ucf101_i3d_flow_scratch": PaperFigure(96.5, None, PAPER_TABLE5),
        "t5_hmdb51_i3d_flow_scratch": PaperFigure(77.3, None, PAPER_TABLE5),
        "t5_ucf101_i3d_two_stream_scratch": PaperFigure(97.8, None, PAPER_TABLE5),
        "t5_hmdb51_i3d_two_stream_scratch": PaperFigure(
            80.9, None, PAPER_TABLE5, f"the abstract's 80.9 ({ABSTRACT}) is this figure"),
    },
    "synthetic": {},
}

_NO_I3D_STREAM_ROW = "the paper's Table 4 has no RGB-I3D / Flow-I3D rows (Two-Stream I3D only)"
# {table: {cell: why the paper has no figure for it}}: every cell of recipes.py is either here
# or in FIGURES.
NOT_IN_THE_PAPER = {
    "4": {f"t4_{dataset}_{model}_{init}_{mode}": _NO_I3D_STREAM_ROW
          for dataset in ("ucf101", "hmdb51") for model in ("i3d_rgb", "i3d_flow")
          for init in ("scratch", "imagenet") for mode in ("original", "fixed", "full")
          if (init, mode) != ("imagenet", "original")},
}


def figure(table, cell):
  """The paper's figure of a cell, or None when the paper has none (NOT_IN_THE_PAPER)."""
  return FIGURES.get(str(table), {}).get(cell)

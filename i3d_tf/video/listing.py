"""Which files are videos: the one list of video extensions, frame folders (mmaction2's rawframes
layout, img_00001.jpg ..., with denseflow's flow_x_00001.jpg / flow_y_00001.jpg beside them or
not), and finding the videos given on a command line or under a folder.

Standard library only (the dataset builders' listing imports it without TensorFlow): what
classify and extract_features take as --videos, what the video-folder and Kinetics builders index.
"""
import glob
import os
import re

# Lower case; a file is a video when its name ends with one, whatever its case.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv",
                    ".wmv", ".3gp", ".ogv", ".ts")


def is_video(path):
  """Whether the file name `path` ends with a video extension (VIDEO_EXTENSIONS, any case)."""
  return os.fspath(path).lower().endswith(VIDEO_EXTENSIONS)


# A frame of a frame folder: img_<number>.jpg / .jpeg / .png (mmaction2's rawframes, from 1).
FRAME_NAME = re.compile(r"^img_(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


def frame_files(folder):
  """[(number, file name)] of the frames in `folder`, by number ([] when it holds none)."""
  found = []
  for name in os.listdir(folder):
    match = FRAME_NAME.match(name)
    if match:
      found.append((int(match.group(1)), name))
  return sorted(found)


def is_frame_folder(path):
  """Whether `path` is a folder holding img_<number> frames (a video given as its frames)."""
  return os.path.isdir(path) and bool(frame_files(path))


# A precomputed flow frame: flow_x_<number>.jpg / flow_y_<number>.jpg (denseflow as mmaction2's
# tools/data/build_rawframes.py runs it: 8-bit grayscale, flow i from img i to img i+1).
FLOW_NAME = re.compile(r"^flow_([xy])_(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


def flow_files(folder):
  """{'x': [(number, file name)], 'y': [...]} of the flow frames in `folder`, by number (both []
  when it holds none)."""
  found = {"x": [], "y": []}
  for name in os.listdir(folder):
    match = FLOW_NAME.match(name)
    if match:
      found[match.group(1).lower()].append((int(match.group(2)), name))
  return {axis: sorted(files) for axis, files in found.items()}


def has_flow_frames(folder):
  """Whether the frame folder `folder` holds precomputed flow frames (flow_x_* or flow_y_*)."""
  return any(flow_files(folder).values())


def find_videos(folder):
  """Sorted paths of the video files and frame folders under `folder` (a frame folder is one
  video: not searched inside); [] when there is none."""
  found = []
  for root, folders, names in os.walk(folder):
    folders.sort()
    for name in list(folders):
      if is_frame_folder(os.path.join(root, name)):  # a video as frames: not walked into
        found.append(os.path.join(root, name))
        folders.remove(name)
    found.extend(os.path.join(root, name) for name in names if is_video(name))
  return sorted(found)


def list_videos(entries, flag="--videos"):
  """[(path, key)] for `entries` (files, frame folders, folders searched recursively for video
  files and frame folders, globs).

  `key` is the path relative to the deepest folder holding all of them, extension kept, so two
  videos never share one (a/x.mp4 and b/x.mp4 give 'a/x.mp4', 'b/x.mp4'). An entry that matches
  nothing is an error naming it and the flag.
  """
  paths = []
  for entry in entries:
    entry = os.path.expanduser(entry)
    if is_frame_folder(entry):
      found = [entry]
    elif os.path.isdir(entry):
      found = find_videos(entry)
      if not found:
        raise FileNotFoundError(f"{flag}: folder {entry} holds no video file "
                                f"({', '.join(VIDEO_EXTENSIONS)}) or frame folder (img_00001.jpg "
                                f"...)")
    elif glob.has_magic(entry):
      found = sorted(p for p in glob.glob(entry, recursive=True)
                     if os.path.isfile(p) or is_frame_folder(p))
      if not found:
        raise FileNotFoundError(f"{flag}: the pattern {entry} matches no file")
    elif os.path.isfile(entry):
      found = [entry]
    else:
      raise FileNotFoundError(f"{flag}: {entry}: no such file or folder")
    paths.extend(os.path.abspath(p) for p in found)
  paths = list(dict.fromkeys(paths))  # each video once, in the order given
  if not paths:
    raise FileNotFoundError(f"{flag}: no video given")
  root = os.path.commonpath([os.path.dirname(p) for p in paths])
  return [(p, os.path.relpath(p, root)) for p in paths]

"""Builds datasets/easy-vqa/ from the easy-VQA 1.0 wheel (PyPI `easy-vqa==1.0`, MIT licence).

    python3 datasets/build/build_easy_vqa.py [--wheel PATH]

Without --wheel the wheel is fetched with `pip download --no-deps easy-vqa==1.0`. Python standard
library only. Output (replacing datasets/easy-vqa/):

- train/ and test/: questions.json and images/*.png exactly as in the wheel (the easy-VQA layout);
- answers.txt and LICENSE from the wheel;
- captions.json: a caption task in the Karpathy `dataset_coco.json` layout. Captions are derived
  from the questions' answers: an image's shape and colour are read from its "what shape/colour"
  answers and its positive yes/no questions; images whose questions do not fix both are left out.
  The last 300 training images with captions form the "val" split; test images are "test".
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile

SHAPES = {"circle", "rectangle", "triangle"}
COLORS = {"red", "green", "blue", "black", "gray", "teal", "brown", "yellow"}
CAPTION_TEMPLATES = ["a {c} {s}", "a {s} that is {c}", "the image shows a {c} {s}"]
VAL_IMAGES = 300

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "easy-vqa")


def fetch_wheel(tmp):
    subprocess.run(["pip", "download", "--no-deps", "-d", tmp, "easy-vqa==1.0"], check=True)
    return os.path.join(tmp, "easy_vqa-1.0-py3-none-any.whl")


def shape_and_colour(questions):
    """Maps image id -> (shape, colour) where the questions determine both."""
    shapes = collections.defaultdict(set)
    colours = collections.defaultdict(set)
    for question, answer, image in questions:
        words = re.findall(r"[a-z]+", question)
        named_shapes = [w for w in words if w in SHAPES]
        named_colours = [w for w in words if w in COLORS]
        negated = "not" in words or "no" in words
        if answer in SHAPES:
            shapes[image].add(answer)
            colours[image].update(named_colours)
        elif answer in COLORS:
            colours[image].add(answer)
            shapes[image].update(named_shapes)
        elif (answer == "yes") != negated:
            shapes[image].update(named_shapes)
            colours[image].update(named_colours)
    known = {}
    for image in set(i for _, _, i in questions):
        if len(shapes[image]) == 1 and len(colours[image]) == 1:
            known[image] = (next(iter(shapes[image])), next(iter(colours[image])))
    return known


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(tmp)
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp)
        data = os.path.join(tmp, "easy_vqa", "data")
        if os.path.exists(OUT):
            shutil.rmtree(OUT)
        os.makedirs(OUT)
        for split in ["train", "test"]:
            shutil.copytree(os.path.join(data, split), os.path.join(OUT, split))
        shutil.copy(os.path.join(data, "answers.txt"), OUT)
        shutil.copy(os.path.join(tmp, "easy_vqa-1.0.dist-info", "LICENSE"), os.path.join(OUT, "LICENSE"))

    images = []
    for split in ["train", "test"]:
        with open(os.path.join(OUT, split, "questions.json")) as f:
            known = shape_and_colour(json.load(f))
        ids = sorted(known)
        for n, image in enumerate(ids):
            shape, colour = known[image]
            if split == "train":
                caption_split = "val" if n >= len(ids) - VAL_IMAGES else "train"
            else:
                caption_split = "test"
            images.append({
                "filepath": f"{split}/images",
                "filename": f"{image}.png",
                "imgid": len(images),
                "split": caption_split,
                "sentences": [{"raw": t.format(c=colour, s=shape)} for t in CAPTION_TEMPLATES],
            })
    with open(os.path.join(OUT, "captions.json"), "w") as f:
        json.dump({"dataset": "easy-vqa-captions", "images": images}, f)
        f.write("\n")
    counts = collections.Counter(i["split"] for i in images)
    print("captions:", dict(counts))


if __name__ == "__main__":
    main()

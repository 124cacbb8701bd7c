"""Tiny datasets written in the exact official layouts (PASCAL VOC, MS COCO, CUB-200-2011) for the tests: real
XML / JSON / palette-PNG structure, a few images each, with the cases the loaders must get right (VOC's void
border and difficult objects, COCO's crowd RLE, compressed RLE and images without any object, non-contiguous
category ids; CUB's soft segmentations and float boxes). Each writer returns what it wrote, for the
asserts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

VOC_CLASSES = (
    "aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike person "
    "pottedplant sheep sofa train tvmonitor"
).split()


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map (index 255 = (224, 224, 192), the void colour)."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _jpeg(path: Path, h: int, w: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=95)


def _voc_xml(image_id: str, h: int, w: int, objects: list[tuple[str, tuple[int, int, int, int], int]]) -> str:
    objs = "".join(
        f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>{difficult}</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{b[0]}</xmin>\n\t\t\t<ymin>{b[1]}</ymin>\n"
        f"\t\t\t<xmax>{b[2]}</xmax>\n\t\t\t<ymax>{b[3]}</ymax>\n\t\t</bndbox>\n\t</object>\n"
        for name, b, difficult in objects
    )
    return (
        f"<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>{image_id}.jpg</filename>\n\t<source>\n"
        "\t\t<database>The VOC2007 Database</database>\n\t\t<annotation>PASCAL VOC2007</annotation>\n"
        "\t\t<image>flickr</image>\n\t</source>\n\t<owner>\n\t\t<name>hrcam</name>\n\t</owner>\n"
        f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
        f"\t<segmented>1</segmented>\n{objs}</annotation>\n"
    )


def write_voc(root: Path, year: str = "2007") -> dict:
    """``root/VOCdevkit/VOC<year>``: 7 images; Main train (3) / val (2) / test (2); Segmentation test = 2 test
    images + 1 val image (VOC 2012-style overlap is tested by removing test.txt). Boxes are 1-based inclusive.

    Returns the ids, objects and index masks written."""
    voc = root / "VOCdevkit" / f"VOC{year}"
    h, w = 30, 40
    # id -> objects (class, (xmin, ymin, xmax, ymax) 1-based inclusive, difficult)
    objects = {
        "000001": [("dog", (5, 4, 20, 25), 0)],
        "000002": [("person", (1, 1, 40, 30), 0), ("bottle", (30, 10, 35, 20), 1)],  # a difficult object
        "000003": [("cat", (10, 5, 30, 28), 0)],
        "000004": [("car", (2, 2, 12, 12), 0)],
        "000005": [("dog", (3, 3, 18, 28), 0), ("person", (20, 5, 38, 29), 0)],
        "000006": [("tvmonitor", (6, 6, 30, 20), 0)],
        "000007": [("cat", (1, 10, 15, 30), 0), ("cat", (20, 2, 40, 12), 0)],
    }
    sets = {
        "Main": {
            "train": ["000001", "000002", "000003"],
            "val": ["000004", "000006"],
            "test": ["000005", "000007"],
        },
        "Segmentation": {"test": ["000005", "000007"], "val": ["000006"], "train": ["000001"]},
    }
    sets["Main"]["trainval"] = sets["Main"]["train"] + sets["Main"]["val"]
    sets["Segmentation"]["trainval"] = sets["Segmentation"]["train"] + sets["Segmentation"]["val"]
    for n, (image_id, objs) in enumerate(objects.items()):
        _jpeg(voc / "JPEGImages" / f"{image_id}.jpg", h, w, seed=n)
        xml = voc / "Annotations" / f"{image_id}.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(_voc_xml(image_id, h, w, objs))
    masks = {}
    for image_id in {i for ids in sets["Segmentation"].values() for i in ids}:
        idx = np.zeros((h, w), np.uint8)
        for name, (x0, y0, x1, y1), _ in objects[image_id]:
            region = np.zeros((h, w), bool)
            region[y0 - 1 + 2 : y1 - 2, x0 - 1 + 2 : x1 - 2] = True  # the object inside its box ...
            ring = np.zeros((h, w), bool)
            ring[y0 - 1 : y1, x0 - 1 : x1] = True
            idx[ring & ~region & (idx == 0)] = 255  # ... with a void border, as VOC draws it
            idx[region] = VOC_CLASSES.index(name) + 1
        png = Image.fromarray(idx, mode="P")
        png.putpalette(voc_palette())
        path = voc / "SegmentationClass" / f"{image_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        png.save(path)
        masks[image_id] = idx
    for task, lists in sets.items():
        d = voc / "ImageSets" / task
        d.mkdir(parents=True, exist_ok=True)
        for name, ids in lists.items():
            (d / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    for cls in ("dog", "cat"):  # the per-class lists of Main (not read by hrcam, present in the real layout)
        for name, ids in sets["Main"].items():
            lines = [f"{i} {1 if any(o[0] == cls for o in objects[i]) else -1:>2}\n" for i in ids]
            (voc / "ImageSets" / "Main" / f"{cls}_{name}.txt").write_text("".join(lines))
    return {"root": voc, "objects": objects, "sets": sets, "masks": masks, "size": (h, w)}


def write_coco(root: Path, year: str = "2014") -> dict:
    """``root/annotations/instances_{train,val}<year>.json`` + images: categories with ids 1, 3, 18 (person,
    car, dog); polygons (one with two parts), a crowd annotation (uncompressed RLE), a compressed RLE, and
    images without any annotation (in train and in val)."""
    from pycocotools import mask as mask_utils

    cats = [
        {"supercategory": "person", "id": 1, "name": "person"},
        {"supercategory": "vehicle", "id": 3, "name": "car"},
        {"supercategory": "animal", "id": 18, "name": "dog"},
    ]
    h, w = 24, 32

    def crowd_rle() -> dict:  # uncompressed RLE (column-major run lengths), as crowd annotations store it
        m = np.zeros((h, w), np.uint8, order="F")
        m[14:22, 2:12] = 1
        flat = m.flatten(order="F")
        counts, prev, run = [], 0, 0
        for v in flat:
            if v != prev:
                counts.append(run)
                prev, run = v, 0
            run += 1
        counts.append(run)
        return {"counts": [int(c) for c in counts], "size": [h, w]}

    def compressed() -> dict:
        m = np.zeros((h, w), np.uint8, order="F")
        m[3:9, 20:30] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        return {"counts": rle["counts"].decode("ascii"), "size": [h, w]}

    poly = [[4.0, 4.0, 14.0, 4.5, 15.0, 12.0, 5.5, 13.0]]
    two_part = [[18.0, 14.0, 28.0, 14.0, 28.0, 22.0, 18.0, 22.0], [2.0, 2.0, 6.0, 2.0, 4.0, 7.0]]
    triangle = [[10.2, 3.3, 25.7, 8.1, 12.9, 20.6]]
    split_images = {
        "train": [
            (101, [(1, poly, 0), (18, two_part, 0)]),
            (102, [(3, triangle, 0)]),
            (103, []),
            (104, [(18, poly, 0)]),
            (105, [(1, triangle, 0), (3, two_part, 0)]),
            (106, [(1, poly, 0)]),
            (107, [(3, triangle, 0)]),
            (108, [(18, two_part, 0)]),
            (109, [(1, two_part, 0), (18, triangle, 0)]),
            (110, [(3, poly, 0)]),
        ],
        "val": [
            (42, [(1, poly, 0), (1, crowd_rle(), 1), (3, compressed(), 0)]),
            (43, []),
            (44, [(18, two_part, 0), (18, triangle, 0)]),
            (45, [(3, triangle, 0), (1, two_part, 0)]),
        ],
    }
    ann_id, out = 1, {"root": root, "images": {}, "categories": cats, "size": (h, w)}
    for split, images in split_images.items():
        data = {
            "info": {"description": "hrcam test fixture", "version": "1.0", "year": int(year)},
            "licenses": [{"id": 1, "name": "test", "url": ""}],
            "images": [],
            "annotations": [],
            "categories": cats,
        }
        for image_id, anns in images:
            name = f"COCO_{split}{year}_{image_id:012d}.jpg"
            _jpeg(root / f"{split}{year}" / name, h, w, seed=image_id)
            data["images"].append(
                {
                    "license": 1,
                    "file_name": name,
                    "coco_url": "",
                    "height": h,
                    "width": w,
                    "date_captured": "2013-11-14 16:28:13",
                    "flickr_url": "",
                    "id": image_id,
                }
            )
            for cat, segm, crowd in anns:
                rle = segm if isinstance(segm, dict) else None
                if rle is None:
                    r = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
                elif isinstance(rle["counts"], list):
                    r = mask_utils.frPyObjects(rle, h, w)
                else:
                    r = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
                x, y, bw, bh = (float(v) for v in mask_utils.toBbox(r))
                data["annotations"].append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": cat,
                        "segmentation": segm,
                        "area": float(mask_utils.area(r)),
                        "bbox": [x, y, bw, bh],
                        "iscrowd": crowd,
                    }
                )
                ann_id += 1
        path = root / "annotations" / f"instances_{split}{year}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        out["images"][split] = [i for i, _ in images]
    return out


def write_cub(root: Path) -> dict:
    """``root/CUB_200_2011`` (3 classes, 4 images each: 3 train + 1 test) and ``root/segmentations`` (soft
    masks in steps of 51, as the five annotators' agreement)."""
    cub = root / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    lines = {k: [] for k in ("images", "labels", "split", "boxes")}
    info = {"paths": {}, "labels": {}, "train": {}, "boxes": {}, "masks": {}, "sizes": {}}
    image_id = 0
    for c, cls in enumerate(classes):
        for k in range(4):
            image_id += 1
            h, w = 30 + 2 * k, 40
            stem = f"{cls.split('.', 1)[1]}_{k:04d}_{100 + image_id}"
            rel = f"{cls}/{stem}.jpg"
            _jpeg(cub / "images" / rel, h, w, seed=image_id)
            box = (3.0 + k, 4.0, 20.5, 15.0 + k)  # x, y, width, height
            soft = np.zeros((h, w), np.uint8)
            soft[4 : 4 + 15, 3 : 3 + 20] = 255
            soft[2:4, 3:23] = 102  # two of five annotators: not object
            soft[19:21, 3:23] = 153  # three of five: object
            seg = root / "segmentations" / cls / f"{stem}.png"
            seg.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(soft, mode="L").save(seg)
            is_train = int(k < 3)
            lines["images"].append(f"{image_id} {rel}\n")
            lines["labels"].append(f"{image_id} {c + 1}\n")
            lines["split"].append(f"{image_id} {is_train}\n")
            lines["boxes"].append(f"{image_id} {box[0]} {box[1]} {box[2]} {box[3]}\n")
            info["paths"][image_id], info["labels"][image_id], info["train"][image_id] = (
                rel,
                c,
                bool(is_train),
            )
            info["boxes"][image_id], info["masks"][image_id], info["sizes"][image_id] = (
                box,
                soft >= 128,
                (h, w),
            )
    cub.mkdir(parents=True, exist_ok=True)
    (cub / "classes.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    (cub / "images.txt").write_text("".join(lines["images"]))
    (cub / "image_class_labels.txt").write_text("".join(lines["labels"]))
    (cub / "train_test_split.txt").write_text("".join(lines["split"]))
    (cub / "bounding_boxes.txt").write_text("".join(lines["boxes"]))
    info["classes"] = classes
    return info

"""hrcam: high-resolution class activation maps and saliency for Keras 3 / TensorFlow."""

from setuptools import find_packages, setup

setup(
    name="hrcam",
    version="0.1.0",
    description=(
        "High-resolution class activation maps, saliency methods and their export to TF Serving, for Keras 3"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["hrcam", "hrcam.*"]),
    package_data={"hrcam": ["presets/*.yaml"]},
    python_requires=">=3.10,<3.14",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorboard>=2.20,<3",
        "keras>=3.12,<4",
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "scikit-image>=0.22,<0.27",
        "SimpleITK>=2.3,<3",
        "matplotlib>=3.8,<4",
        "seaborn>=0.13,<0.14",
        "tqdm>=4.66,<5",
        "opencv-python-headless>=4.8,<6",
        "pyyaml>=6,<7",
    ],
    extras_require={
        "serving": ["tensorflow-serving-api>=2.21,<2.22"],
        # `hrcam extract` on Apache Beam (DirectRunner, Dataflow, Flink, Spark); `make test` installs it
        # beside [dev,serving]. ~300 MB (pyarrow, pandas, pymongo, ...); Beam 2.78 caps protobuf < 7, so
        # protobuf goes 7.36 -> 6.33.6 (TF 2.21 and tensorflow-serving-api 2.21 accept >=6.31.1,<8).
        # Without it, `--runner local` runs the same shards.
        "beam": ["apache-beam>=2.78,<3"],
        # MS COCO's instance masks (hrcam.data.coco); `make test` installs it
        "coco": ["pycocotools>=2.0.7,<3"],
        "dev": [
            "pytest>=8",
            "ruff>=0.5",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6.29",
            "setuptools>=68",
            "wheel",
        ],
    },
    entry_points={"console_scripts": ["hrcam=hrcam.cli:main"]},
)

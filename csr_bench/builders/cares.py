"""CARES's data folders from a clone of its repository and the images the user obtained.

CARES (richard-peng-xia/CARES) ships its questions as data/<set>/<file>.jsonl, one schema per file,
with image paths relative to an image folder it does not ship: each source set's images come from
their owners, several only after an access application. ``build_cares`` checks every row against its
file's schema (csr_bench.scorers.cares.SCHEMAS; a row that fits none is a one-line error naming the
file and line), and writes OUT/<set>/<set>.jsonl with the rows as shipped, each image path prefixed
``images/``, and OUT/<set>/images/ (the images copied or linked, under the names the file gives).
"""

from __future__ import annotations

from pathlib import Path

from csr_bench.builders.output import place_image, write_jsonl
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.cares import SCHEMAS, SOURCE_FILES, check_schema

# Where each set's images come from (the CARES README's "Data Source"); the first three need an access
# application (a credentialed account and a data use agreement), so they are never downloaded here.
ACCESS = {
    "iuxray": "IU-Xray images: the R2GenGPT Google-Drive download the CARES README links "
              "(https://drive.google.com/file/d/1c0BXEuDy8Cmm2jfN0YYGkQxFZd2ZIoLg/view)",
    "ham10000": "HAM10000 test images: Harvard Dataverse, doi:10.7910/DVN/DBW86T (ham10000_testset/)",
    "ol3i": "OL3I images: Stanford AIMI, after an access application "
            "(https://stanfordaimi.azurewebsites.net/datasets/3263e34a-252e-460f-8f63-d585a9bfecfc)",
    "fundus": "Harvard-FairVLMed fundus images: after an access application "
              "(https://ophai.hms.harvard.edu/datasets/harvard-fairvlmed10k/)",
}


def build_cares(cares_repo: Path, dataset: str, images: Path, out: Path, *, link: bool = False) -> dict[str, int]:
    """Write OUT/<dataset>/<dataset>.jsonl and OUT/<dataset>/images/; returns the rows and images written."""
    from csr_bench.storage.files import read_jsonl_objects

    if dataset not in SCHEMAS:
        raise CsrBenchError(f"cares: unknown set {dataset!r} (known: {', '.join(SCHEMAS)}; MIMIC-CXR, OmniMedVQA "
                            "and PMC-OA files are not in the CARES snapshot this was built from)")
    cares_repo, images, out = Path(cares_repo), Path(images), Path(out)
    source = cares_repo / SOURCE_FILES[dataset]
    if not source.is_file():
        raise CsrBenchError(f"cares: {source} not found (is --cares-repo a clone of richard-peng-xia/CARES?)")
    if not images.is_dir():
        raise CsrBenchError(f"cares: image folder not found: {images} ({ACCESS[dataset]})")
    folder = out / dataset
    rows, placed = [], set()
    for line, row in read_jsonl_objects(source, "CARES questions"):
        try:
            check_schema(row, dataset)
        except CsrBenchError as exc:
            raise CsrBenchError(f"cares: {source}:{line}: {exc}") from None
        name = row["image"]
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise CsrBenchError(f"cares: {source}:{line}: field 'image' must be a path inside the image folder, "
                                f"got {name!r}")
        if name not in placed:
            if not (images / name).is_file():
                raise CsrBenchError(f"cares: {source}:{line}: image {name} not found in {images} ({ACCESS[dataset]})")
            place_image(images / name, folder / "images" / name, link=link)
            placed.add(name)
        rows.append({**row, "image": f"images/{name}"})
    if not rows:
        raise CsrBenchError(f"cares: {source} holds no rows")
    write_jsonl(folder / f"{dataset}.jsonl", rows)
    return {"rows": len(rows), "images": len(placed)}

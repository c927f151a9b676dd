"""Every example of the README and of the pages it links (docs/, CONTRIBUTING.md), run in a fresh process as
a user runs it: in a work folder laid out like the checkout (``.venv``, ``spaces_app/``,
``dataset_scripts/``, ``benchmarks/``), with the user's files
made by the tests (photos from ../shared/real-faces, a FLAME folder in ``~/flame``, a Next3D-format
checkpoint, a 300W-format folder), in reading order so that later examples use what earlier ones made.

Long jobs run at small sizes: each route names its (old -> new) replacements, and each old text must
still be in the README. Pushes go to a recording Hub (tests/recording_hub.py) loaded at start-up of the
processes through sitecustomize, since the Hub cannot be reached here. An example with no route fails
`test_every_example_has_a_route`: a new README example must be wired in here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthforge_hf.constants import REFERENCE_MODEL

from ..browser import analyse_in_browser
from .readme import Example, Route, readme_examples, route_of

pytestmark = pytest.mark.slow  # the whole file: see CONTRIBUTING.md, "Tests"

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
REAL_FACES = SHARED / "real-faces"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SMALL_DATASET = "--num-train 8 --num-validation 4 --shard-size 4"
MENTION = "names a command in prose; its examples are the README's blocks, run by their own routes"

ROUTES = [
    Route("apt-get update && apt-get install -y libusb-1.0-0 &&", "setup", files=("outputs/demo",)),
    Route("apt-get update && apt-get install -y libusb-1.0-0 chromium", "setup"),
    Route(
        "import torch\nfrom synthforge_hf import SynthForgePipeline\n\n"
        "pipe = SynthForgePipeline.from_default_head()",
        "python",
        replace=(  # and the README's "or SynthForgePipeline.from_pretrained(dir)", on the folder just saved
            (
                'pipe.save_pretrained("my-pipeline")',
                'pipe.save_pretrained("my-pipeline")\n'
                'reloaded = SynthForgePipeline.from_pretrained("my-pipeline")\n'
                "assert reloaded(seeds=[0], resolution=64).landmarks_2d.shape == (1, 68, 2)",
            ),
        ),
        files=("my-pipeline/model_index.json",),
    ),
    Route(
        ".venv/bin/synthforge make-dataset --out outputs/faces-full --num-train 100000",
        "bash",
        replace=(
            ("--num-train 100000 --num-validation 10000", SMALL_DATASET),
            ("--limit 64", "--limit 8"),
            (
                "--out /data/faces --device cuda",
                f"--out data/faces-accelerate --device {{device}} {SMALL_DATASET}",
            ),
            ("--out /data/faces --shards 0:50", f"--out data/faces {SMALL_DATASET} --shards 0:2"),
        ),
        files=(
            "outputs/faces-full/README.md",
            "outputs/faces-small/README.md",
            "data/faces-accelerate/README.md",
        ),
    ),
    Route(
        ".venv/bin/synthforge make-dataset --out outputs/faces-small --limit 64",
        "bash",
        replace=(("--limit 64", "--limit 8"),),
        files=("outputs/faces-small/README.md",),
    ),
    Route("from datasets import load_dataset", "python"),
    Route(
        "from PIL import Image\nfrom synthforge_hf.analysis import PhotoAnalyser",
        "python",
        replace=(
            (
                "face.box, face.landmarks.shape",
                "assert len(result.faces) == 1 and face.landmarks.shape == (68, 2)\n"
                "left, top, right, bottom = face.box\n"
                "x = face.landmarks[:, 0]\n"
                "assert (x > left - 20).all() and (x < right + 20).all() and x.std() > (right - left) / 6",
            ),
        ),
        files=("outputs/astronaut-analysis.png",),
    ),
    Route(
        "import synthforge_hf.models.synthforge",
        "python",
        replace=(
            (
                'affines=inputs["affines"])\n',
                'affines=inputs["affines"])\n'
                'assert len(parsing) == len(inputs["boxes"]) == len(inputs["detection_scores"]) == 1\n',
            ),
        ),
    ),
    Route(
        "import synthforge_hf  # registers the",
        "python",
        replace=(
            (
                'faces[0]["box"], faces[0]["score"], faces[0]["landmarks"].shape, faces[0]["mask"].size',
                'assert len(faces) == 1 and faces[0]["landmarks"].shape == (68, 2)\n'
                'assert faces[0]["mask"].size == (512, 330) and faces[0]["score"] > 0',
            ),
            (
                "batch_size=8)",
                "batch_size=8)\nassert [len(f) for f in batched] == [1] * 4\n"
                'assert abs(batched[3][0]["landmarks"] - faces[0]["landmarks"]).max() < 0.05',
            ),
        ),
    ),
    Route(
        ".venv/bin/synthforge export-onnx",
        "bash",
        files=("outputs/onnx/model.onnx", "outputs/onnx/preprocessor_config.json"),
    ),
    Route(
        ".venv/bin/synthforge analyse",
        "bash",
        files=tuple(f"outputs/analysis/{name}" for name in ("faces.jsonl", "faces.parquet", "astronaut.png")),
    ),
    Route(
        ".venv/bin/synthforge make-dataset --out outputs/faces --num-train 20000",
        "bash",
        replace=(
            (
                "--num-train 20000 --num-validation 1000 --resolution 256",
                "--num-train 16 --num-validation 4 --resolution 64",
            ),
            (
                "--config base --max-steps 50000",
                "--config tiny --max-steps 2 --batch-size 4 --eval-samples 4",
            ),
            ("--output-dir runs/lf-300w", "--output-dir runs/lf-300w --max-steps 2 --batch-size 4"),
            ("/data/300W", "data/300W"),
        ),
        files=("runs/sb/config.json", "runs/lf-300w/config.json", "eval.json"),
    ),
    Route(
        ".venv/bin/synthforge make-dataset --out outputs/faces128",
        "bash",
        replace=(
            ("--num-train 8000 --num-validation 300", "--num-train 16 --num-validation 4"),
            ("--max-steps 2600", "--max-steps 2"),
            ("--batch-size 16", "--batch-size 4"),
            ("--eval-steps 650 --eval-samples 100", "--eval-steps 2 --eval-samples 4"),
        ),
        files=("runs/sb-small/model.safetensors",),
    ),
    Route(
        ".venv/bin/synthforge evaluate --model runs/sb",
        "bash",
        replace=(("/data/300W", "data/300W"),),
        files=("hub/me/synthforge-sb/README.md", "hub/me/synthforge/synthforge_hf/__init__.py"),
    ),
    Route(
        "from synthforge_hf import MeshFaceGenerator, SynthForgePipeline",
        "python",
        replace=(
            (
                "out.head_pose  # yaw, pitch, roll in degrees, as the camera sees the head",
                "assert out.head_pose.shape == (2, 3) and abs(out.parameters['pose'][:, 2]).max() <= 0.4\n"
                "assert pipe.face_generator.config.clothing and pipe.sampling_ranges.roll == 0.4",
            ),
        ),
    ),
    Route(
        "from synthforge_hf.constants import PART_CLASSES",
        "python",
        replace=(
            (
                "print(sorted({PART_CLASSES[k] for k in set(parts.flat)}))",
                "assert sorted({{PART_CLASSES[k] for k in set(parts.flat)}}) == ['eye_g', 'hand', 'none']",
            ),
        ),
    ),
    Route(
        "from synthforge_hf import FaceAnnotator, MeshFaceGenerator",
        "python",
        replace=(
            ("pipe = SynthForgePipeline.from_assets(", "named = SynthForgePipeline.from_assets("),
            (
                "FaceAnnotator())",
                "FaceAnnotator())\nsample = pipe(seeds=[0], resolution=64).segmentation\n"
                "assert (sample > 0).any()\n"
                "assert (named(seeds=[0], resolution=64).segmentation == sample).all()",
            ),
        ),
    ),
    Route(
        ".venv/bin/synthforge convert-next3d",
        "bash",
        replace=(
            ("--fit-alignment 16 --device cuda", "--fit-alignment 2 --device {device}"),
            (
                "--resolution 512 --device cuda --num-samples 8",
                "--resolution 64 --device {device} --num-samples 2",
            ),
            ("--device cuda --resolution 512", "--device {device} --resolution 64 --limit 2"),
            ("--max-landmark-depth-error 0.01", "--max-landmark-depth-error 10"),  # random weights
            ("--out /data/faces", "--out data/next3d-faces"),
        ),
        files=("next3d-pipeline/model_index.json", "out/contact_sheet.png", "data/next3d-faces/README.md"),
    ),
    Route(
        "import torch\nfrom synthforge_hf import SynthForgePipeline\n\n"
        'pipe = SynthForgePipeline.from_pretrained("next3d-pipeline")',
        "python",
        replace=(('.to("cuda")', '.to("{device}")'), ("resolution=512", "resolution=64")),
    ),
    Route("synthforge make-dataset", "check", why=MENTION),
    Route("synthforge push", "check", why=MENTION),
    Route("synthforge analyse", "check", why=MENTION),
    Route("synthforge analyse PATH...", "check", why=MENTION),
    Route("synthforge convert-next3d --blend all", "check", why=MENTION),
    Route("synthforge export-onnx", "check", why=MENTION),
    Route(
        "synthforge generate --num-samples 8 --out out/",
        "bash",
        replace=(("--num-samples 8", "--num-samples 2 --resolution 64"),),
        files=("out/contact_sheet.png",),
    ),
    Route(
        "synthforge generate --appearance clothing glasses",
        "bash",
        replace=(
            (
                "--appearance clothing glasses",
                "--appearance clothing glasses --num-samples 2 --resolution 32 --out out-parts",
            ),
        ),
        files=("out-parts/contact_sheet.png",),
    ),
    Route(
        ".venv/bin/synthforge error-map --out outputs/error-map",
        "bash",
        replace=(("--num-samples 400", "--num-samples 4 --batch-size 2 --no-progress"),),
        files=("outputs/error-map/error_map.json", "outputs/error-map/error_map.png"),
    ),
    Route(
        ".venv/bin/synthforge train-sb --sampling guided",
        "bash",
        replace=(
            (
                "--max-steps 600 --batch-size 16",
                "--max-steps 2 --batch-size 2 --eval-samples 2 --resolution 32",
            ),
            (
                ".venv/bin/synthforge train-sb --sampling target",
                "mkdir -p my-photos && cp group.jpg my-photos/ && "
                ".venv/bin/synthforge train-sb --sampling target",
            ),
            ("--num-train 2000", "--num-train 4 --resolution 32 --guided-faces 4"),
        ),
        files=(
            "runs/sb-guided/sampling_map.png",
            "runs/sb-target/sampling_targets.json",
            "outputs/hard-faces/README.md",
        ),
    ),
    Route("synthforge generate --help", "bash"),
    Route("synthforge evaluate --out", "check", why=MENTION),
    Route("synthforge convert-next3d", "check", why=MENTION),
    Route(
        "synthforge import-official RELEASE",
        "bash",
        replace=(("RELEASE --out DIR", "release --out outputs/imported"),),
        files=("outputs/imported/data",),
    ),
    Route(
        "synthforge push-dataset DIR",
        "bash",
        replace=(("DIR user/name", "outputs/faces-small me/faces-small"),),
        files=("hub/me/faces-small/README.md",),
    ),
    Route(
        "accelerate launch -m synthforge_hf.cli train-sb",
        "bash",
        replace=(
            (
                "train-sb ...",
                "train-sb --data outputs/faces128 --output-dir runs/sb-accelerate --config tiny "
                "--max-steps 1 --batch-size 2 --eval-samples 2",
            ),
        ),
        files=("runs/sb-accelerate/config.json",),
    ),
    Route("synthforge train-sb --help", "bash"),
    Route("synthforge --version", "bash"),
    Route(
        "bash spaces_app/make_model.sh",
        "bash",
        replace=(("bash spaces_app/make_model.sh", "bash -n spaces_app/make_model.sh"),),
        why="a 66-minute job: only parsed here; its commands are the CPU recipe's, run above at small sizes",
    ),
    Route("python benchmarks/", "help", why="benchmarks take minutes to hours: each script parses --help"),
    Route(".venv/bin/python spaces_app/app.py", "space"),
    Route(
        "synthforge generate --head flame --head-dir ~/flame --num-samples 8",
        "bash",
        files=("out/contact_sheet.png",),
    ),
    Route(
        "synthforge generate --head flame --head-dir ~/flame --generator next3d",
        "bash",
        replace=(
            (
                "synthforge generate",
                "synthforge convert-next3d next3d_ffhq_512.pkl next3d-component "
                "--uv-mask ~/flame/uv_face_eye_mask.png && synthforge generate",
            ),
            (
                "--generator-dir OUT",
                "--generator-dir next3d-component --num-samples 1 --resolution 32 --out out-component",
            ),
        ),
        files=("out-component/contact_sheet.png",),
    ),
]
EXACT_MENTIONS = {
    "synthforge make-dataset",
    "synthforge evaluate --out",
    "synthforge convert-next3d",
    "synthforge push",
    "synthforge analyse",
    "synthforge export-onnx",
}
EXAMPLES = readme_examples()


def _route(example: Example) -> Route:
    if example.language == "inline" and example.text not in EXACT_MENTIONS:
        routes = [r for r in ROUTES if r.starts not in EXACT_MENTIONS]
    else:
        routes = ROUTES
    return route_of(example, routes)


def test_every_example_has_a_route():
    """A README example nobody runs fails here (and the routes for examples that are gone, too)."""
    used = {id(_route(example)) for example in EXAMPLES}
    unused = [route.starts for route in ROUTES if id(route) not in used]
    assert not unused, f"routes for examples no longer in the README: {unused}"


# ----------------------------------------------------------------------------- the work folder


def _write_300w(folder: Path) -> None:
    """300W's layout (images with .pts, one face each) from the labelled real photos: the training
    XML's faces in the train folders, the testing XML's in the test ones."""
    from synthforge_hf.evaluation.readers import DlibLandmarkXML

    layout = {
        "training_with_face_landmarks.xml": ("afw", "helen/trainset", "lfpw/trainset"),
        "testing_with_face_landmarks.xml": ("helen/testset", "lfpw/testset", "ibug"),
    }
    for xml, folders in layout.items():
        for k, face in enumerate(DlibLandmarkXML(REAL_FACES / xml)):
            image, points = face["image"], np.asarray(face["landmarks"], dtype=np.float64)
            low, high = points.min(0), points.max(0)
            margin = (high - low).max()
            left, top = np.maximum(np.floor(low - margin), 0).astype(int)
            right, bottom = np.minimum(np.ceil(high + margin), image.size).astype(int)
            target = folder / folders[k % len(folders)]
            target.mkdir(parents=True, exist_ok=True)
            image.crop((left, top, right, bottom)).save(target / f"face_{k:02d}.jpg", quality=95)
            pts = points - (left, top) + 1.0  # .pts counts pixels from 1
            body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts)
            (target / f"face_{k:02d}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")


def _write_photos(work: Path) -> None:
    """``group.jpg`` (three people) and ``portrait.png`` (one face framed as the training data)."""
    from synthforge_hf.evaluation.readers import DlibLandmarkXML
    from synthforge_hf.models.synthforge import SynthForgeImageProcessor

    shutil.copy(REAL_FACES / "2008_001322.jpg", work / "group.jpg")
    face = DlibLandmarkXML(REAL_FACES / "testing_with_face_landmarks.xml")[0]
    processor = SynthForgeImageProcessor.from_pretrained(REFERENCE_MODEL)
    inputs = processor(face["image"], boxes=[[face["box"]]], do_normalize=False, return_tensors="np")
    crop = np.clip(np.asarray(inputs["pixel_values"][0]).transpose(1, 2, 0) * 255, 0, 255)
    Image.fromarray(crop.round().astype(np.uint8)).save(work / "portrait.png")


@pytest.fixture(scope="module")
def work(tmp_path_factory, assets_dir, flame_template) -> Path:
    if not REAL_FACES.is_dir():
        pytest.skip(f"{REAL_FACES} is absent")
    from synthforge_hf.pipelines.synthforge import SynthForgePipeline

    from ..next3d_files import flame_folder, random_next3d, write_official_next3d
    from ..official_release import write_official_release

    work = tmp_path_factory.mktemp("readme")
    (work / ".venv").symlink_to(Path(sys.prefix))
    for name in ("dataset_scripts", "benchmarks"):
        (work / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "spaces_app", work / "spaces_app", ignore=shutil.ignore_patterns("__pycache__"))
    (work / "ICT-FaceKit").mkdir()
    (work / "ICT-FaceKit" / "FaceXModel").symlink_to(assets_dir / "ict-facekit" / "FaceXModel")
    flame_folder(work / "home" / "flame", flame_template, assets_dir)
    uv_mask = assets_dir / "flame" / "uv_face_eye_mask.png"
    write_official_next3d(work / "next3d_ffhq_512.pkl", random_next3d(flame_template, uv_mask))
    write_official_release(SynthForgePipeline.from_default_head(), work / "release", 3)
    _write_300w(work / "data" / "300W")
    _write_photos(work)
    return work


def _environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(work / "home"),  # ~/flame
        PATH=f"{work / '.venv' / 'bin'}{os.pathsep}{env['PATH']}",  # inline commands: an activated venv
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parent / "recording_hub_site")]
            + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        ),
        SYNTHFORGE_RECORDING_HUB=str(work / "hub"),
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
    )
    return env


def _run(command: list[str], work: Path, timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=work, env=_environment(work), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


# ----------------------------------------------------------------------------- the routes


def _setup(example: Example, work: Path, timeout: int) -> None:
    """The set-up lines: their installs must be what .ci/run does; what follows them runs here."""
    ci = (ROOT / ".ci" / "run").read_text()
    steps = [step.strip() for step in example.text.strip().split("&&")]
    installs = [s for s in steps if s.startswith(("apt-get", "python3 -m venv", ".venv/bin/pip"))]
    for step in installs:
        if step.startswith("apt-get install"):
            packages = [word for word in step.split()[2:] if not word.startswith("-")]
            assert all(package in ci for package in packages), f"{step!r}: .ci/run installs other packages"
        else:
            assert step.split()[-1] in ci, f"{step!r} is not what .ci/run does"
    rest = [s for s in steps if s not in installs]
    if rest == [".venv/bin/pytest -q"]:
        assert ".venv/bin/pytest -q" in ci  # the command CI runs: this suite
        return
    _run(["bash", "-euo", "pipefail", "-c", " && ".join(rest)], work, timeout)


def _space(work: Path, timeout: int) -> None:
    """``python spaces_app/app.py`` as started locally, driven through gradio_client on a real photo and
    through its page in headless Chromium."""
    pytest.importorskip("gradio", reason="the Space needs the `space` extra (gradio)")
    from gradio_client import Client, handle_file

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _environment(work) | {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    server = subprocess.Popen(
        [str(work / ".venv" / "bin" / "python"), "spaces_app/app.py"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, client = time.monotonic() + timeout, None
        while client is None:
            assert server.poll() is None, f"the Space exited: {server.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "the Space did not start"
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:  # not listening yet
                time.sleep(2)
        *_, annotations = client.predict(handle_file(str(work / "group.jpg")), api_name="/analyse")
        assert len(json.loads(Path(annotations).read_text())["faces"]) == 3
        analyse_in_browser(f"http://127.0.0.1:{port}/", work / "portrait.png", work / "space_page.png")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.page.replace('/', '-')}:line{e.line}")
def test_readme_example(example: Example, work: Path):
    route = _route(example)
    if route.run == "check":
        pytest.skip(f"{example.text!r}: {route.why}")
    if route.cuda_only and DEVICE != "cuda":
        pytest.skip("needs CUDA")
    if route.run == "setup":
        _setup(example, work, route.timeout)
    elif route.run == "space":
        _space(work, route.timeout)
    elif route.run == "help":
        _run(example.text.split()[:2] + ["--help"], work, route.timeout)
    elif route.run == "python":
        script = work / f"readme_line{example.line}.py"
        script.write_text(route.script(example, DEVICE))
        _run([str(work / ".venv" / "bin" / "python"), script.name], work, route.timeout)
    else:
        _run(["bash", "-euo", "pipefail", "-c", route.script(example, DEVICE)], work, route.timeout)
    for name in route.files:
        assert (work / name).exists(), f"{example.first_command!r} did not make {name}"

"""Build forcelab: pure-Python packages plus the Cython core compiled from ext/.

The owner's top-level folders map onto one clean namespace: ``forcelab/`` is the package,
``drivers/`` is installed as ``forcelab.drivers``. One rule for the compiled modules: every
``ext/[PATH/]NAME.pyx`` is compiled into the private module ``forcelab.[PATH.]NAME``, so
``ext/_stances.pyx`` -> ``forcelab._stances`` (the analysis core) and ``ext/drivers/_frames.pyx``
-> ``forcelab.drivers._frames`` (the drivers' frame scanners: part of the drivers package, which
imports nothing of forcelab outside it). Nothing installs a top-level ``drivers`` or ``ext``
module.
"""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent

packages = find_packages(include=["forcelab", "forcelab.*"])
packages += ["forcelab." + p for p in find_packages(include=["drivers", "drivers.*"])]


def module_name(pyx: Path) -> str:
    """``ext/[PATH/]NAME.pyx`` -> ``forcelab.[PATH.]NAME``."""
    return ".".join(("forcelab", *pyx.relative_to(HERE / "ext").with_suffix("").parts))


extensions = [
    Extension(
        module_name(pyx),
        [str(pyx.relative_to(HERE))],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for pyx in sorted((HERE / "ext").rglob("*.pyx"))
]

setup(
    packages=packages,
    package_dir={"forcelab": "forcelab", "forcelab.drivers": "drivers"},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
    include_package_data=False,
    # the spoken feedback words (forcelab.acquisition.cue_audio)
    package_data={"forcelab.acquisition": ["cue_words/*.wav"]},
    zip_safe=False,
)

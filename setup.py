"""Only what pyproject.toml cannot say: the compiled record converter.

It is built against the headers lxml ships (lxml.get_include()) and is optional: where no C
compiler is at hand the install goes on and ml_connector.intacct.records uses its Python loop.
"""

import lxml
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "ml_connector.intacct._records",
                ["src/ml_connector/intacct/_records.pyx"],
                include_dirs=lxml.get_include(),
                optional=True,
            )
        ],
        build_dir="build/cython",
        compiler_directives={"language_level": 3},
    )
)

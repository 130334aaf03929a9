"""Only what pyproject.toml cannot say: the compiled record loop of the Intacct parser.

It is built against the headers lxml ships (lxml.get_include()) and is optional: where no C
compiler is at hand the install goes on and ml_connector.intacct.gateway.records runs its
Python loop.
"""

import lxml
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = cythonize(
    [
        Extension(
            "ml_connector.intacct.gateway._records",
            ["src/ml_connector/intacct/gateway/_records.pyx"],
            include_dirs=lxml.get_include(),
        )
    ],
    build_dir="build/cython",
    compiler_directives={"language_level": 3},
)
for extension in extensions:
    extension.optional = True  # set after cythonize, which does not carry it over

setup(ext_modules=extensions)

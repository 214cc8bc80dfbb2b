"""Marks the distribution as platform-specific: the wheel carries libstorage.so (copied
next to the package by `make wheel`), so it must not be tagged py3-none-any."""

from setuptools import setup
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    """A distribution with a native library inside."""

    def has_ext_modules(self) -> bool:
        return True


setup(distclass=BinaryDistribution)

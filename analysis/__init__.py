"""Studies of the shipped policies that no training or evaluation run needs: the perfect-catch bound and the
documentation's plots. Run from the repository root (``python -m analysis.perfect_bound``); not installed with the
package."""

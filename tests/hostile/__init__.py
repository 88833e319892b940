"""The hostile-input suite: every bad input and fault ends in one clear line, nothing lost, nothing leaked."""

"""Spec files bundled with automl (installed as ``automl_spaces``); `automl spaces` lists them."""

"""planctl.cli"""

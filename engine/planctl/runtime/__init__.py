"""planctl.runtime"""

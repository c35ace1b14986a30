"""planctl.verify"""

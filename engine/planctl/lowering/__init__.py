"""planctl.lowering"""

"""planctl.measure"""

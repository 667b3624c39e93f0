"""The signup check: is this newcomer a banned person coming back?"""

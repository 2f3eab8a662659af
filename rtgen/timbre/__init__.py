"""rtgen.timbre"""

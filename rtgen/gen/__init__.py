"""Generators: music-theory rules, grammars, cellular automata and the Continuator."""

"""Built-in control environments for world models (no download): ``room``, a point agent in a
2-D room with an optional wall and door."""

"""The vocabulary floor: values that several layers share (events, periods, the clock, guild
config, board kinds, checkpoint and batch records). Imports nothing else of the app."""

"""The Samizdat node: routing core, wire format, runtime, client layer and front ends."""

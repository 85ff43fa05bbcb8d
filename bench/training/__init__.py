"""Trainers of the reference models shipped in models/ (reasoner, instant,
slipper, PRM, ORM). A sweep never trains; the fake reward engine borrows the
reference PRM's tokenizer from here."""

"""The registry's pure state machine: which event moves a participant's status where."""

"""The hand-written task classifier (`model_routing.classifier: lexicon`, the default): cue lexicons in
18 languages plus structural rules, in linear time. `classifier.classify` is its entry; `choice`
turns its verdict into the probabilities the selector reads."""

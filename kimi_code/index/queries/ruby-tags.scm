; Ruby tags. Captures: @name plus one @definition.<kind> or @reference.<kind>.
; When two patterns capture the same name node, the earlier pattern wins.

(method name: (_) @name) @definition.method
(singleton_method name: (_) @name) @definition.method
(class name: (constant) @name) @definition.class
(class name: (scope_resolution name: (constant) @name)) @definition.class
(singleton_class value: (constant) @name) @definition.class
(module name: (constant) @name) @definition.module
(module name: (scope_resolution name: (constant) @name)) @definition.module
(assignment left: (constant) @name) @definition.constant
(call
  method: (identifier) @_attr
  arguments: (argument_list (simple_symbol) @name) @definition.method
  (#any-of? @_attr "attr_reader" "attr_writer" "attr_accessor"))

; references
(call method: (identifier) @name) @reference.call
(superclass (constant) @name) @reference.type
(superclass (scope_resolution name: (constant) @name)) @reference.type
(call receiver: (constant) @name) @reference.type
(call receiver: (scope_resolution name: (constant) @name)) @reference.type
(scope_resolution name: (constant) @name) @reference.type

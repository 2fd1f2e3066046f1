; Python tags. Captures: @name plus one @definition.<kind> or @reference.<kind>.
; When two patterns capture the same name node, the earlier pattern wins, so specific
; patterns (methods, constants) come before general ones (functions, variables).

(class_definition
  body: (block
    (function_definition name: (identifier) @name) @definition.method))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.method)))

(class_definition name: (identifier) @name) @definition.class

(function_definition name: (identifier) @name) @definition.function

(module
  (expression_statement
    (assignment left: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))

(module
  (expression_statement
    (assignment left: (identifier) @name) @definition.variable))

(module
  (expression_statement
    (assignment
      left: (identifier) @name
      type: (type)) @definition.variable))

; references
(call function: (identifier) @name) @reference.call
(call function: (attribute attribute: (identifier) @name)) @reference.call
(decorator (identifier) @name) @reference.call
(decorator (attribute attribute: (identifier) @name)) @reference.call
(class_definition
  superclasses: (argument_list (identifier) @name @reference.type))
(class_definition
  superclasses: (argument_list (attribute attribute: (identifier) @name) @reference.type))
(type (identifier) @name) @reference.type
(type (attribute attribute: (identifier) @name)) @reference.type
(import_from_statement name: (dotted_name (identifier) @name .) @reference.import)
(import_from_statement
  name: (aliased_import name: (dotted_name (identifier) @name .)) @reference.import)

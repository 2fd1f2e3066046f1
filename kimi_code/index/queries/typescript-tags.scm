; TypeScript tags (also the base of tsx-tags.scm). Captures: @name plus one
; @definition.<kind> or @reference.<kind>. When two patterns capture the same name node, the
; earlier pattern wins.

(method_definition name: (property_identifier) @name) @definition.method
(method_definition name: (private_property_identifier) @name) @definition.method
(abstract_method_signature name: (property_identifier) @name) @definition.method
(method_signature name: (property_identifier) @name) @definition.method
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(class name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module name: (identifier) @name) @definition.module
(module name: (identifier) @name) @definition.module
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(function_signature name: (identifier) @name) @definition.function
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
(pair
  key: (property_identifier) @name
  value: [(arrow_function) (function_expression)]) @definition.method
(program
  (export_statement
    declaration: (lexical_declaration
      (variable_declarator name: (identifier) @name) @definition.constant)))
(program
  (lexical_declaration (variable_declarator name: (identifier) @name) @definition.variable))
(program
  (variable_declaration (variable_declarator name: (identifier) @name) @definition.variable))

; references
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (member_expression property: (property_identifier) @name)) @reference.call
(new_expression constructor: (identifier) @name) @reference.call
(new_expression constructor: (member_expression property: (property_identifier) @name)) @reference.call
(extends_clause value: (identifier) @name @reference.type)
(extends_clause value: (member_expression property: (property_identifier) @name) @reference.type)
(type_identifier) @name @reference.type
(import_specifier name: (identifier) @name) @reference.import
(import_clause (identifier) @name @reference.import)

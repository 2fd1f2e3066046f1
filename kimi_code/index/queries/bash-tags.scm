; Bash tags. Captures: @name plus one @definition.<kind> or @reference.<kind>.
; When two patterns capture the same name node, the earlier pattern wins.

(function_definition name: (word) @name) @definition.function
(program (variable_assignment name: (variable_name) @name) @definition.variable)
(program
  (declaration_command (variable_assignment name: (variable_name) @name)) @definition.variable)

; references
(command name: (command_name (word) @name)) @reference.call

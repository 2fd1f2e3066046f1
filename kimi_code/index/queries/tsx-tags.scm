; TSX tags: appended to typescript-tags.scm (see languages.py), so the TypeScript patterns come
; first and win. Adds JSX component uses as references.

(jsx_opening_element name: (identifier) @name) @reference.call
(jsx_self_closing_element name: (identifier) @name) @reference.call
(jsx_opening_element name: (member_expression property: (property_identifier) @name)) @reference.call
(jsx_self_closing_element name: (member_expression property: (property_identifier) @name)) @reference.call

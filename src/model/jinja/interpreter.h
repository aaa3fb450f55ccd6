// Renders a parsed template against a context of global values.
#pragma once

#include <map>
#include <string>

#include "model/jinja/ast.h"

namespace tandem::model::jinja {

using Globals = std::map<std::string, Value>;

// Throws InputError with the line for runtime errors and raise_exception's message.
std::string render(const Body& tmpl, const Globals& globals);

}  // namespace tandem::model::jinja

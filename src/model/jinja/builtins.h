// Jinja's filters, tests, methods of str / list / dict, and the global functions chat
// templates call (range, namespace, raise_exception, strftime_now).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/jinja/interpreter.h"

namespace tandem::model::jinja {

using Args = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;

Value apply_filter(const std::string& name, const Value& x, Args& args, Kwargs& kwargs, int line);
bool apply_test(const std::string& name, const Value& x, const Args& args, int line);
// A bound method such as "abc".startswith or messages.append, as a callable value.
Value method(const Value& obj, const std::string& name, int line);
// Whether v is, or holds through lists and dicts, the list or dict at `target` (structures nested
// past 64 levels count as holding it). Used to refuse cycles, which would print forever.
bool contains(const Value& v, const void* target, int depth = 0);
// range, namespace, raise_exception, strftime_now, dict.
void add_global_functions(Globals& g);

}  // namespace tandem::model::jinja

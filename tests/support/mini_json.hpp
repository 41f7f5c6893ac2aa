// SPDX-License-Identifier: BSL-1.0
// mini_json::parse(): a strict little JSON reader for the tests that check a
// trace export (objects, arrays, strings with escapes, numbers, literals).
// Throws std::runtime_error naming the offset of the first thing it rejects,
// so "valid JSON" is asserted by parsing, not by looking.
#pragma once

#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mini_json {

struct Value {
    enum class Type { null, boolean, number, string, array, object } type = Type::null;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<Value> array;
    std::map<std::string, Value> object;

    bool has(const std::string& key) const { return type == Type::object && object.count(key) != 0; }
    const Value& operator[](const std::string& key) const {
        auto it = object.find(key);
        if (type != Type::object || it == object.end()) throw std::runtime_error("no key " + key);
        return it->second;
    }
};

class Parser {
public:
    explicit Parser(const std::string& text) : text_(text) {}

    Value document() {
        Value v = value();
        space();
        if (at_ != text_.size()) fail("text after the value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(at_));
    }
    void space() {
        while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_])) != 0) ++at_;
    }
    char peek() {
        space();
        if (at_ >= text_.size()) fail("unexpected end");
        return text_[at_];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++at_;
    }
    void literal(const char* word) {
        for (const char* p = word; *p != '\0'; ++p, ++at_) {
            if (at_ >= text_.size() || text_[at_] != *p) fail(std::string("expected ") + word);
        }
    }
    std::string string_literal() {
        expect('"');
        std::string out;
        while (true) {
            if (at_ >= text_.size()) fail("unterminated string");
            char c = text_[at_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= text_.size()) fail("unterminated escape");
            char e = text_[at_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                if (at_ + 4 > text_.size()) fail("short \\u escape");
                auto code = static_cast<unsigned>(std::stoul(text_.substr(at_, 4), nullptr, 16));
                at_ += 4;
                out += code < 0x80 ? static_cast<char>(code) : '?';
                break;
            }
            default: fail("bad escape");
            }
        }
    }
    Value value() {
        Value v;
        char c = peek();
        if (c == '{') {
            ++at_;
            v.type = Value::Type::object;
            if (peek() == '}') {
                ++at_;
                return v;
            }
            while (true) {
                std::string key = string_literal();
                expect(':');
                v.object[key] = value();
                if (peek() == ',') {
                    ++at_;
                    continue;
                }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            ++at_;
            v.type = Value::Type::array;
            if (peek() == ']') {
                ++at_;
                return v;
            }
            while (true) {
                v.array.push_back(value());
                if (peek() == ',') {
                    ++at_;
                    continue;
                }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.type = Value::Type::string;
            v.string = string_literal();
            return v;
        }
        if (c == 't' || c == 'f') {
            v.type = Value::Type::boolean;
            v.boolean = c == 't';
            literal(c == 't' ? "true" : "false");
            return v;
        }
        if (c == 'n') {
            literal("null");
            return v;
        }
        std::size_t begin = at_;
        if (text_[at_] == '-') ++at_;
        auto digits = [&] {
            std::size_t from = at_;
            while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_])) != 0) ++at_;
            if (at_ == from) fail("expected a digit");
        };
        digits();
        if (at_ < text_.size() && text_[at_] == '.') {
            ++at_;
            digits();
        }
        if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
            ++at_;
            if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
            digits();
        }
        v.type = Value::Type::number;
        v.number = std::stod(text_.substr(begin, at_ - begin));
        return v;
    }

    const std::string& text_;
    std::size_t at_ = 0;
};

inline Value parse(const std::string& text) { return Parser(text).document(); }

}  // namespace mini_json

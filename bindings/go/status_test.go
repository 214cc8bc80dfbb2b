package storage

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// goConstants reads the Status constants declared in status.go: name -> value.
func goConstants(t *testing.T) map[string]Status {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "status.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	constants := map[string]Status{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			value := spec.(*ast.ValueSpec)
			if kind, ok := value.Type.(*ast.Ident); !ok || kind.Name != "Status" {
				continue
			}
			for i, name := range value.Names {
				literal, ok := value.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s is not a number literal", name.Name)
				}
				n, err := strconv.Atoi(literal.Value)
				if err != nil {
					t.Fatal(err)
				}
				constants[name.Name] = Status(n)
			}
		}
	}
	return constants
}

// libraryName spells a Go constant the library's way: StatusEmptyChannelID ->
// STORAGE_EMPTY_CHANNEL_ID (an underscore where a word starts; acronyms stay whole).
func libraryName(goName string) string {
	runes := []rune(strings.TrimPrefix(goName, "Status"))
	var out strings.Builder
	out.WriteString("STORAGE")
	for i, r := range runes {
		startsWord := i == 0 || unicode.IsUpper(r) && (unicode.IsLower(runes[i-1]) ||
			i+1 < len(runes) && unicode.IsLower(runes[i+1]))
		if startsWord {
			out.WriteByte('_')
		}
		out.WriteRune(unicode.ToUpper(r))
	}
	return out.String()
}

// The binding's constants are exactly the library's statuses (listed by asking the
// library for 0, 1, 2, ... until it answers STORAGE_UNKNOWN_STATUS), under its names.
func TestStatusConstantsAreTheLibrarysStatuses(t *testing.T) {
	constants := goConstants(t)
	byValue := map[Status]string{}
	for name, value := range constants {
		byValue[value] = name
	}
	count := 0
	for s := Status(0); s.Name() != unknownStatusName; s++ {
		count++
		goName, ok := byValue[s]
		if !ok {
			t.Errorf("the library's %s (%d) has no Go constant", s.Name(), int32(s))
			continue
		}
		if libraryName(goName) != s.Name() {
			t.Errorf("%s = %d, but the library calls %d %s", goName, int32(s), int32(s), s.Name())
		}
		if s.Description() == "" || s.Description() == Status(-1).Description() {
			t.Errorf("%s has no description", s.Name())
		}
	}
	if count != len(constants) || count < 21 {
		t.Errorf("the library has %d statuses, the binding %d constants", count, len(constants))
	}
}

func TestStatusNamesComeFromTheLibrary(t *testing.T) {
	cases := map[Status]string{
		StatusOK:             "ok",
		StatusEmptyChannelID: "empty channel id",
		StatusLimitReached:   "limit reached",
		StatusInvalidUTF8:    "invalid utf8",
		Status(-1):           "status -1",
		Status(1 << 20):      "status 1048576",
	}
	for status, want := range cases {
		if got := status.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int32(status), got, want)
		}
	}
	if StatusLimitReached.Name() != "STORAGE_LIMIT_REACHED" || Status(-1).Name() != unknownStatusName {
		t.Errorf("names %q, %q", StatusLimitReached.Name(), Status(-1).Name())
	}
	if d := StatusTimeout.Description(); d != "`storage_next_event` found no event before its timeout." {
		t.Errorf("description %q", d)
	}
}

